"""Settings files with generated secrets: a deployment's `.env` (`make env`) and the demo's `.env.demo`.

`make env` copies `.env.example` with its secret lines filled in; an existing `.env` is never
overwritten (its secrets are those the database volume was created with). docker/airflow-init.sh
refuses a stack started with empty, placeholder or short secrets and names this command.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional

REPO = Path(__file__).resolve().parents[1]
#: Bytes of randomness per secret (token_urlsafe: 4 characters per 3 bytes). airflow-init.sh refuses
#: a secret shorter than 16 characters, so the shortest here (12 bytes, 16 characters) still passes. The JWT
#: secret signs with HS512, for which PyJWT warns below 64 bytes.
SECRET_BYTES = {"POSTGRES_PASSWORD": 16, "AIRFLOW_JWT_SECRET": 64, "AIRFLOW_ADMIN_PASSWORD": 12}
#: What a deployment needs generated; the admin password may stay empty (airflow-init then prints one).
DEPLOYMENT_SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET")
_SETTING = re.compile(r"^(?P<name>[A-Z_][A-Z0-9_]*)=.*$")


class SettingsExist(Exception):
    """The settings file is already there: its secrets are in use and must not change behind the database's back."""


def generated_secrets(names: Iterable[str]) -> Dict[str, str]:
    """Fresh random values for the named secrets (URL-safe, so they fit in the database URL unquoted)."""
    return {name: secrets.token_urlsafe(SECRET_BYTES[name]) for name in names}


def fill_settings(template: str, values: Mapping[str, str]) -> str:
    """``template`` with the lines of the settings in ``values`` set to them; comments and order kept.

    A setting the template does not have is appended, so that nothing asked for is silently lost.
    """
    lines, seen = [], set()
    for line in template.splitlines():
        match = _SETTING.match(line)
        if match and match.group("name") in values:
            name = match.group("name")
            line = "{}={}".format(name, values[name])
            seen.add(name)
        lines.append(line)
    lines += ["{}={}".format(name, value) for name, value in values.items() if name not in seen]
    return "\n".join(lines) + "\n"


def write_settings(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only; raises SettingsExist rather than replace one."""
    try:
        descriptor = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SettingsExist("{} exists: keeping it (delete it first to generate new secrets; a database "
                            "created with the old ones then needs 'docker-compose down -v')".format(path)) from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=REPO / ".env.example")
    parser.add_argument("--output", type=Path, default=REPO / ".env")
    args = parser.parse_args(argv)
    text = fill_settings(args.template.read_text(encoding="utf-8"), generated_secrets(DEPLOYMENT_SECRETS))
    try:
        write_settings(args.output, text)
    except SettingsExist as error:
        print("make env: {}".format(error), file=sys.stderr)
        return 1
    print("wrote {} with generated {}; set STT_DATA_DIR there".format(args.output, ", ".join(DEPLOYMENT_SECRETS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
