"""REDCap `content=record&action=import` (filled in below)."""
