"""Training: TRL SFT and DPO with LoRA, QLoRA or full fine-tuning, inline or under `accelerate launch`."""
