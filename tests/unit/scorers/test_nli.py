import numpy as np
import pytest
import torch

from selftrain_core.errors import ConfigError
from selftrain_core.scorers.nli import NLILabels, NLIModel, nli_labels

PAIRS = [
    ("Paris is the capital of France.", "Paris is the capital."),
    ("Berlin is the capital of Germany.", "The author was born in 1924."),
    ("The quick brown fox jumps over the lazy dog.", "A fox."),
    ("Who wrote the book?", ""),
    ("Question: who wrote the book? The author was born in 1924 and died in 1978.", "Read the passage."),
]


def test_label_mapping_from_config():
    assert nli_labels({0: "entailment", 1: "contradiction"}) == NLILabels(1, 0, 2)
    assert nli_labels({"0": "CONTRADICTION", "1": "NEUTRAL", "2": "ENTAILMENT"}) == NLILabels(0, 2, 3)
    assert nli_labels({0: "entailment", 1: "neutral", 2: "contradiction"}) == NLILabels(2, 0, 3)
    assert nli_labels({0: "LABEL_0", 1: "LABEL_1"}) == NLILabels(1, 0, 2)  # SelfCheckGPT's checkpoint convention
    assert nli_labels({0: "entailment", 1: "not_entailment"}) == NLILabels(1, 0, 2)
    with pytest.raises(ConfigError, match="cannot tell the NLI classes"):
        nli_labels({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ConfigError, match="cannot tell"):
        nli_labels({0: "positive", 1: "negative"})


@pytest.mark.parametrize("fixture", ["tiny_nli", "tiny_nli_3"])
def test_contradiction_reads_the_class_the_config_names(fixture, request):
    nli = NLIModel.load(str(request.getfixturevalue(fixture)), "cpu")
    with torch.no_grad():  # push every prediction to the contradiction class: the mapping must find it
        nli.model.classifier.bias[:] = 0.0
        nli.model.classifier.bias[nli.labels.contradiction] = 20.0
    assert np.all(nli.contradiction(PAIRS) > 0.99)
    assert np.all(nli.entailment(PAIRS) < 0.01)


@pytest.mark.parametrize("fixture", ["tiny_nli", "tiny_nli_3"])
def test_batched_equals_one_at_a_time(fixture, request):
    nli = NLIModel.load(str(request.getfixturevalue(fixture)), "cpu", batch_size=4)
    batched = nli.probs(PAIRS)
    single = np.stack([nli.probs([pair], batch_size=1)[0] for pair in PAIRS])
    assert batched.shape == (len(PAIRS), nli.labels.num_labels)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(batched.sum(-1), 1.0, atol=1e-6)
