"""Running unattended: alerts, metrics and health, systemd notify, the console, status."""
