from selftrain_core.config import RunConfig
from selftrain_core.stages.curate import curate_one

CFG = RunConfig(curate={"answerable_threshold": 0.5, "known_threshold": 0.8})


def _score(s_l, s_k, no_doc_scores=(0.9, 0.1, 0.4)):
    return {"score_id": "score-1", "question_id": "q-1", "s_l": s_l, "s_k": s_k, "no_doc_scores": list(no_doc_scores)}


def _answer(reference="Paris is the capital.", no_doc=("Paris.", "Lyon is the capital.", "Nice.")):
    return {
        "answer_id": "ans-1",
        "question": "What is the capital of France?",
        "reference": reference,
        "no_doc": list(no_doc),
    }


def test_unknown_question_becomes_a_pair_against_the_least_agreeing_sample():
    kind, row = curate_one(CFG, "key", _score(0.9, 0.3), _answer())
    assert kind == "pair" and row["label"] == "unknown"
    assert row["prompt"] == [
        {
            "role": "user",
            "content": "Answer the question in one or two sentences.\n\nQuestion: What is the capital of France?",
        }
    ]
    assert row["chosen"] == [{"role": "assistant", "content": "Paris is the capital."}]
    assert row["rejected"] == [{"role": "assistant", "content": "Lyon is the capital."}]
    assert row["rejected_score"] == 0.1 and row["pair_id"].startswith("pair-")


def test_rejection_reasons():
    assert curate_one(CFG, "k", _score(0.3, 0.3), _answer())[1]["reason"] == "unanswerable"
    assert curate_one(CFG, "k", _score(0.9, 0.85), _answer())[1]["reason"] == "known"
    assert curate_one(CFG, "k", _score(0.9, 0.3), _answer(reference="  "))[1]["reason"] == "empty_reference"
    empty = _answer(no_doc=("", " ", ""))
    assert curate_one(CFG, "k", _score(0.9, 0.3, (0.0, 0.0, 0.0)), empty)[1]["reason"] == "empty_samples"
    kind, row = curate_one(CFG, "k", _score(0.9, 0.3, (0.0, 0.5, 0.6)), _answer(no_doc=("", "Lyon.", "Nice.")))
    assert kind == "pair" and row["rejected"][0]["content"] == "Lyon."
    same = _answer(no_doc=("x", "paris IS the capital.", "y"))
    kind, row = curate_one(CFG, "k", _score(0.9, 0.3), same)
    assert kind == "rejected" and row["reason"] == "chosen_equals_rejected"
