"""The names of the bot's loggers, in one place.

``EVENTS_LOGGER`` carries what happened (``logs/trading.log`` and the console);
``ERRORS_LOGGER`` carries failures with their tracebacks (``logs/errors.log``, which also gets
ERROR records from any ``paperbot.*`` logger); ``ALERTS_LOGGER`` carries alert delivery
problems. ``storage.logs`` attaches the handlers; every
other module only asks ``logging.getLogger`` for one of these names.
"""

from __future__ import annotations

EVENTS_LOGGER = "paperbot"
ERRORS_LOGGER = f"{EVENTS_LOGGER}.errors"
# Alert delivery problems (ops/notify.py): kept apart so a failing alert target cannot alert
# about itself.
ALERTS_LOGGER = f"{EVENTS_LOGGER}.alerts"
