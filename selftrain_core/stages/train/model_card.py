"""The model card written beside every trained checkpoint (huggingface_hub ModelCard)."""

from __future__ import annotations

import json
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from selftrain_core.config import RunConfig
from selftrain_core.config.base import result_settings
from selftrain_core.stages.base import StagePlan

TEMPLATE = """---
{{ card_data }}
---

# selftrain {{ method }} {{ what }} for {{ base_name }}

Trained by selftrain on what the base model did not know. DPO pairs prefer the
document-grounded reference answer over the model's own most contradicting answer without the document; SFT rows
are the grounded reference answers of questions the model did not know.

- Base model: `{{ base_name }}` (fingerprint `{{ base_fingerprint }}`)
- Method: `{{ method }}`, fine-tuning: `{{ finetune }}`{{ init_line }}
- Dataset artifact: `curate/{{ dataset_key }}` ({{ counts }})
- Train artifact key: `train/{{ train_key }}`

{{ usage }}

## Training config
```json
{{ train_config }}
```

## Final metrics
```json
{{ metrics }}
```

Its evaluation against the base (every set, with intervals) is in the evaluate artifact that names this train
artifact as a parent: `cards/<arm>/README.md` there is this card with the evidence.
"""

USAGE = {
    "adapter": "Load with `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), this_folder)`.",
    "full": "Load with `AutoModelForCausalLM.from_pretrained(this_folder)`.",
    "merged": "The adapter merged into the base weights: `AutoModelForCausalLM.from_pretrained(this_folder)`.",
}
WHAT = {"adapter": "LoRA adapter", "full": "fine-tuned model", "merged": "merged model"}


def write_model_card(
    folder: str, cfg: RunConfig, plan: StagePlan, kind: str, counts: dict[str, int], metrics: dict[str, Any]
) -> None:
    """`kind`: adapter, full or merged."""
    base = next(m for m in plan.models if m["role"] == "base")
    init = next((m for m in plan.models if m["role"] == "init_adapter"), None)
    tags = ["selftrain", "trl", *cfg.train.method.split("-then-"), *(["lora"] if kind == "adapter" else [])]
    data = ModelCardData(
        library_name="peft" if kind == "adapter" else "transformers",
        base_model=base.get("hub_id"),  # the hub model the weights are (a copy of), if any
        tags=tags,
        license=None,
    )
    card = ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        method=cfg.train.method.upper(),
        what=WHAT[kind],
        base_name=base["name"],
        base_fingerprint=base["fingerprint"],
        finetune=cfg.train.finetune,
        init_line=f"\n- Continued from adapter `{init['name']}` ({init['fingerprint']})" if init else "",
        dataset_key=plan.parent("curate").key,
        counts=", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()),
        train_key=plan.key,
        usage=USAGE[kind],
        train_config=json.dumps(result_settings(cfg.train), indent=2),
        metrics=json.dumps(metrics, indent=2),
    )
    card.save(f"{folder}/README.md")
