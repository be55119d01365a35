"""What IT deploys and configures: settings files, the connection path from settings + keyring, autostart."""
