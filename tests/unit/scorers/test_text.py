from selftrain_core.scorers.text import split_sentences


def test_splits_on_end_marks_but_not_abbreviations_or_initials():
    text = "Dr. Smith met J. R. Tolkien in 1950. They talked! Did they agree? Yes"
    assert split_sentences(text) == ["Dr. Smith met J. R. Tolkien in 1950.", "They talked!", "Did they agree?", "Yes"]


def test_no_sentences_in_empty_or_punctuation_only_text():
    assert split_sentences("") == [] and split_sentences("  ... ?! ") == []


def test_non_english_text():
    assert split_sentences("东京是日本的首都。它很大！") == ["东京是日本的首都。", "它很大！"]
    assert split_sentences("Москва — столица России. Она большая.") == ["Москва — столица России.", "Она большая."]
