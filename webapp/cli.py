"""``flask --app webapp users ...``: create accounts, make operators, reset passwords."""
from __future__ import annotations

import os
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from core.errors import InvalidRequest
from store import accounts
from webapp.extensions import db
from store.models import User

users = AppGroup("users", help="Manage the accounts that sign in to the web app.")


def _password(from_stdin: bool, env_name: str | None = None) -> str:
    if env_name:
        if not os.environ.get(env_name):
            raise click.ClickException(f"the environment variable {env_name} is not set")
        return os.environ[env_name]
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("create")
@click.argument("username")
@click.option("--email", required=True, help="Where job e-mails go.")
@click.option("--operator", is_flag=True, help="May see every job and the operator page.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--password-env", metavar="NAME",
              help="Read the password from this environment variable (one-off ECS tasks).")
def create(username, email, operator, password_stdin, password_env):
    """Create an account."""
    try:
        user = accounts.create_user(db.session, username, email,
                                    _password(password_stdin, password_env),
                                    role="operator" if operator else "user")
        db.session.commit()
    except InvalidRequest as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    click.echo(f"created {user.role} {user.username} <{user.email}>")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def password(username, password_stdin):
    """Set a new password."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    try:
        accounts.set_password(db.session, user, _password(password_stdin))
        db.session.commit()
    except InvalidRequest as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    click.echo(f"password of {username} changed")


@users.command("list")
def list_users():
    """Every account, with its role."""
    for user in db.session.scalars(select(User).order_by(User.username)):
        state = " (disabled)" if user.disabled_at else ""
        click.echo(f"{user.username}\t{user.role}\t{user.email}{state}")
