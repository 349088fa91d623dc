"""Downloading videos: yt-dlp resolves the streams, one ffmpeg pass makes the clip, a check verifies it."""
