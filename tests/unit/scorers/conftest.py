import pytest

from selftrain_core.models.resolve import resolve_model
from selftrain_core.scorers import scorer_class
from selftrain_core.scorers.base import ScoreInput
from selftrain_core.scorers.models import ScorerModels
from selftrain_core.stages.score.config import ScoreConfig

# Good and bad input in one batch: every scorer must give defined scores for all of it.
ITEMS = {
    "good": ScoreInput(
        "What is the capital of France?",
        "Paris is the capital of France. It lies on the Seine.",
        ["Paris is the capital of France.", "Berlin is the capital.", "The quick brown fox."],
        [[-0.1, -0.2], [-1.0, -2.0], [-3.0]],
        document="Paris is the capital and largest city of France.",
    ),
    "empty_samples": ScoreInput("Who wrote the book?", "The author.", ["", "  ", "The author."], [[], [], [-0.5]]),
    "single_sample": ScoreInput("Who wrote the book?", "The author.", ["The author was born in 1924."], [[-0.3]]),
    "no_samples": ScoreInput("Who?", "The author.", [], []),
    "empty_reference": ScoreInput("Who?", " ... ", ["The author.", "A fox."], [[-0.2], [-0.4]]),
    "non_english": ScoreInput(
        "首都は?", "東京は日本の首都です。", ["東京です。", "Москва — столица."], [[-0.2], [-0.9]]
    ),
}


@pytest.fixture(scope="module")
def models(tiny_embedder, tiny_nli, tiny_lm):
    resolved = {
        "embedder": resolve_model(str(tiny_embedder), kind="embedder"),
        "nli": resolve_model(str(tiny_nli), kind="nli"),
        "policy": resolve_model(str(tiny_lm)),
    }
    return ScorerModels(resolved, device="cpu", nli_batch_size=8, policy_batch_size=4)


@pytest.fixture(scope="module")
def open_scorer(models, tiny_nli):
    def make(name: str, **settings):
        cfg = ScoreConfig(scorer=name, nli={"name": str(tiny_nli)}, **settings)
        return scorer_class(name).open(cfg, models)

    return make
