"""Archive uploads: a person sends an export (zip, xml, json, csv...) in resumable chunks, the hub
checks it is the right export, and imports it as a backfill sync job of the engine.

    receive.py   create an upload, append chunks at the server's offset, hash as they arrive
    imports.py   which types take archives, the export check (the connector's sniff), start the
                 import job, settle the files when the job ends, expire stale uploads
    storage.py   where the files live (MEDIA_ROOT/uploads/<user>/<upload>/, never served)
"""
