"""The Fargate stream task: pulls a stream's media, runs ffmpeg to its ingests, watches it until it ends."""
