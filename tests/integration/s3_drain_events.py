#!/usr/bin/python3
"""s3_drain_events.py: removes the S3 event notifications caused by tests/integration/test_s3.c
from the test stack's events queue, so a worker consuming it later is not fed foreign events.

Usage: s3_drain_events.py PREFIX...   (e.g. "uploads/celeriac-it/1700000000-123/")
Needs CELERY_BROKER_URL; the queue is CELERIAC_S3_EVENTS_QUEUE (default s3.events). The
stack publishes MinIO-shaped messages whose "Key" is "<bucket>/<raw key>" (see
tests/stack/s3server.mjs). Messages with a matching Key are acked; every other message is
left unacked and returns to the queue when the channel closes. Prints how many were removed.
Exits 0 when there is nothing to do (no broker URL, no queue).
"""
import json
import os
import sys
import time


def main() -> int:
    url = os.environ.get("CELERY_BROKER_URL", "")
    queue = os.environ.get("CELERIAC_S3_EVENTS_QUEUE", "s3.events")
    prefixes = tuple(sys.argv[1:])
    if not url or not queue or not prefixes:
        print("nothing to drain")
        return 0
    import kombu

    time.sleep(1.0)  # the stack publishes asynchronously; let the last events arrive
    removed = 0
    with kombu.Connection(url, connect_timeout=5) as conn:
        conn.connect()
        ch = conn.channel()
        try:
            ch.queue_declare(queue=queue, passive=True)
        except Exception:  # no such queue: events are off
            print("no events queue")
            return 0
        mine = []
        for _ in range(100000):
            m = ch.basic_get(queue, no_ack=False)
            if m is None:
                break
            try:
                key = json.loads(m.body).get("Key", "")
            except (ValueError, AttributeError):
                key = ""
            if isinstance(key, str) and key.startswith(prefixes):
                mine.append(m.delivery_tag)
        for tag in mine:
            ch.basic_ack(tag)
        removed = len(mine)
        ch.close()
    print(f"removed {removed} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
