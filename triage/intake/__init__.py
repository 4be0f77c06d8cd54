"""What comes in: photos and camera frames, biographic details checked as typed, names, MRZ, CSV text,
and the paths of the sample photos that install with the dependencies."""
