"""What travels between devices: signed, encrypted batches of a day, their merge on another home,
and the keys and trust lists that decide whose batches are accepted."""
