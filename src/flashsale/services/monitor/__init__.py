"""The consistency monitor and the operations dashboard. It owns no database: every few seconds it
compares the read models with their sources through the house's APIs (flashsale.consistency) and
exports what it finds; the dashboard shows every instance's metrics as the sale runs.

Where things are:
- use cases: monitor.py (the consistency rounds), scrape.py (the dashboard's scrapes);
- rules, free of I/O: readings.py, series.py, board.py;
- HTTP: api.py (the last round), dashboard.py (the page and its data);
- wiring: app.py; settings: settings.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("monitor")
