"""One handler per command of the outcomes service; HTTP routes and NATS inboxes send the same commands here.
None yet: they come with the outcomes issue."""
