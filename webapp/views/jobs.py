"""The job pages: the list of jobs."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Job

bp = Blueprint("pages", __name__)


@bp.get("/")
@login_required
def jobs():
    """The user's jobs (an operator's: everyone's), newest first."""
    query = select(Job).order_by(Job.created_at.desc()).limit(100)
    if not current_user.is_operator:
        query = query.where(Job.owner == current_user.username)
    return render_template("jobs/list.html", jobs=db.session.scalars(query).all())
