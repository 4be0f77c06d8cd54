"""The structured debrief of an arrival: where they left from, how the crossing was arranged and paid for,
who they were in touch with, who steered and navigated, who they travelled with, signs of exploitation,
and the language and interpreter used.

The minutes after a landing are when people can say who organised the crossing, but what they say is
useless to anyone else unless it is written down in a form that can be searched and counted. `questions`
holds what is asked and how each answer is checked, `records` how a debrief is kept in versions and
linked to crime groups and other arrivals, and `summaries` how it reads in words and in an intelligence
report.
"""
