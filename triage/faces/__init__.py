"""Faces: detection, alignment, encoders, quality, and 1:N search (exact, int8, approximate) with
fusion of several models. Reads photos (intake) and stored templates (store); knows nothing of arrivals."""
