"""Member photos: local files, ``http(s)://`` URLs fetched off the notifier's path, or a ``bytea`` column, turned
into small cached thumbnails that notifiers and the desk page can show."""
