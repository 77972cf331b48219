"""The district inbox: district housing systems' messages on `casetrack.ingest.<district>.<kind>` become the
same commands the HTTP routes send; each is answered on `casetrack.accepted.<district>` or
`casetrack.rejected.<district>`.

- `reading`: bytes and headers -> a message model, or every reason they cannot be one
- `inbox`: a message -> its command, applied once, or a kept rejection; the answer
- `records`: the inbox's tables and SQL
- `transport`: the JetStream consumer, batches, answers and acks
- `retention`: destroying old sealed copies of refused messages
"""

from services.referral.district_inbox.inbox import Answer, Arrival, DistrictInbox
from services.referral.district_inbox.reading import MessageRefused, read
from services.referral.district_inbox.transport import InboxTransport, open_district_inbox

__all__ = ["Answer", "Arrival", "DistrictInbox", "InboxTransport", "MessageRefused", "open_district_inbox", "read"]
