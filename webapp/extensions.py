"""Flask extensions, created here and bound to an app in ``create_app``.

The tables are ``store.models``; Flask-SQLAlchemy binds them to a session per
request through their declarative base.
"""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from store.models import Base

# Rows stay readable after commit: a request commits, then answers with the row.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
