"""The Slack door: slack-bolt app, Block Kit rendering, transports, feedback."""
