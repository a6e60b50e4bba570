"""YouTube Live: the channel's Google grant (oauth), the API calls and their quota (api, quota, errors), and
the broadcasts a stream becomes."""
