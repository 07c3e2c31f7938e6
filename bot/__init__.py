"""redsteward's bot: channels, dispatch, outbox, scheduler and the web app."""
