"""`stripe-analytics serve`: the dashboard as `make run` starts it (serve.py, warm-up included),
from a checkout or from the installed package alone."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .app_files import AppFilesMissing, server_script
from .cli_args import CliError, validated

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class ServeArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    port: int | None = Field(default=None, ge=1, le=65535)
    address: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            if _HOSTNAME.match(value):
                return value
        raise ValueError("must be an IP address or a host name (e.g. 127.0.0.1 or 0.0.0.0)")


def streamlit_command(port: int | None, address: str | None) -> list[str]:
    """The command line that serves the dashboard (Streamlit also reads the `.streamlit/config.toml`
    beside serve.py, so an installed copy has the same settings as a checkout)."""
    command = [sys.executable, "-m", "streamlit", "run", str(server_script())]
    if port is not None:
        command += ["--server.port", str(port)]
    if address is not None:
        command += ["--server.address", address]
    return command


def register(sub) -> None:
    def cmd_serve(ns: argparse.Namespace) -> int:
        args = validated(ServeArgs, ns)
        try:
            command = streamlit_command(args.port, args.address)
        except AppFilesMissing as error:
            raise CliError(str(error)) from None
        sys.stdout.flush()
        os.execv(command[0], command)
        return 0  # not reached: the server replaces this process

    p = sub.add_parser("serve", help="start the dashboard (the same server as `make run`)")
    p.add_argument("--port", type=str, help="port to listen on (default 8501)")
    p.add_argument("--address", type=str, help="address to listen on (see the README's Settings)")
    p.set_defaults(func=cmd_serve)
