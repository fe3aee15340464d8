"""The model card written beside every trained checkpoint (huggingface_hub ModelCard)."""

from __future__ import annotations

import json
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from selftrain_core.config import RunConfig
from selftrain_core.config_base import result_settings
from selftrain_core.stages.base import StagePlan

TEMPLATE = """---
{{ card_data }}
---

# selftrain DPO adapter for {{ base_model }}

Trained by [selftrain](https://github.com/) on what the base model did not know: DPO pairs whose chosen answer is
the document-grounded reference and whose rejected answer is the model's own most contradicting no-document sample.

- Base model: `{{ base_name }}` (fingerprint `{{ base_fingerprint }}`)
- Dataset artifact: `curate/{{ dataset_key }}` ({{ n_pairs }} pairs)
- Train artifact key: `{{ train_key }}`

## Training config
```json
{{ train_config }}
```

## Final metrics
```json
{{ metrics }}
```
"""


def write_model_card(folder: str, cfg: RunConfig, plan: StagePlan, n_pairs: int, metrics: dict[str, Any]) -> None:
    base = next(m for m in plan.models if m["role"] == "base")
    hub_base = base.get("hub_id")  # the hub model the weights are (a copy of), if any
    data = ModelCardData(
        library_name="peft", base_model=hub_base, tags=["selftrain", "dpo", "trl", "lora"], license=None
    )
    card = ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        base_model=base["name"],
        base_name=base["name"],
        base_fingerprint=base["fingerprint"],
        dataset_key=plan.parent("curate").key,
        n_pairs=n_pairs,
        train_key=plan.key,
        train_config=json.dumps(result_settings(cfg.train), indent=2),
        metrics=json.dumps(metrics, indent=2),
    )
    card.save(f"{folder}/README.md")
