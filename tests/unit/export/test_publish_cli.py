"""`selftrain publish`: the command pushes what publish.* names, and refuses when it names nothing."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from selftrain_cli.app import app
from selftrain_core.errors import ConfigError
from tests.unit.export.conftest import TOKEN, TOKEN_ENV


def test_the_command_pushes_the_adapter_named_by_the_settings(trained, hub, tmp_path):
    cfg, store, ref, _ = trained
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")), encoding="utf-8")
    settings = [f"publish.endpoint={hub.url}", f"publish.token_env={TOKEN_ENV}"]
    result = CliRunner().invoke(
        app, ["publish", "--train", ref.key, "--config", str(config), *settings, "publish.model_repo_id=me/cli"]
    )
    assert result.exit_code == 0, result.output
    assert "adapter: me/cli" in result.output and TOKEN not in result.output
    assert "adapter_model.safetensors" in hub.files("model", "me/cli")

    nothing = CliRunner().invoke(app, ["publish", "--train", ref.key, "--config", str(config), *settings])
    assert isinstance(nothing.exception, ConfigError) and "nothing to publish" in str(nothing.exception)
    assert not hub.repos.keys() - {("model", "me/cli")}, "nothing else was created"
