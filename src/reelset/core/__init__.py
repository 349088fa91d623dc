"""Shared helpers: one of each (atomic writes, ffmpeg/ffprobe, per-item status, progress, configuration)."""
