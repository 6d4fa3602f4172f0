"""Seven-segment display reading: a procedural renderer, a small CTC recogniser, its reader."""
