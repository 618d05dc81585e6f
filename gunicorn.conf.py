# gunicorn reads ./gunicorn.conf.py wherever it starts here (the web image's /app, `make run`):
# its own log lines follow LOG_FORMAT like the app's (webapp/serving.py).
logger_class = "webapp.serving.Logger"
