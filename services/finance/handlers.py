"""One handler per command of the finance service; HTTP routes and NATS inboxes send the same commands here.
None yet: they come with the finance issue."""
