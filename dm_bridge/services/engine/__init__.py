"""The engine: what workers run to make Whop match the rows.

* ``leases`` — one worker per row at a time; attempts counted before each Whop write.
* ``converge`` — ``drive_channel``: create, members, name, outbox, delete.
* ``batches`` — ``drive_channels``: many channels in one task, fresh creates in one batch.
* ``reconcile`` — compare a channel with Whop and queue the repairs.
* ``retry_policy`` — backoff, ``Retry-After``, when to give up.
* ``scheduling`` — due times, enqueueing on commit (``bulk``: together), queue routing,
  "retry now".
* ``sweeper`` — re-enqueue work that was lost.
"""
