"""WSGI entry point: `gunicorn wsgi:app`."""
from app import create_app
from app.api.report_ingest import ReportIngest

app = create_app()
# Single delivery reports take a lean path in front of Flask (app/api/report_ingest.py).
app.wsgi_app = ReportIngest(app, app.wsgi_app)
