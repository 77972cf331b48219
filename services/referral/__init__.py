"""The referral service: a young person's case from presentation to closure."""
