"""One Prefect task per stage: resolve inputs, call selftrain_core, publish Prefect artifacts, return a ref."""

from tasks.secrets import install as _install_secret_reader

_install_secret_reader()  # server.api_key_secret: keys from Prefect Secret blocks
