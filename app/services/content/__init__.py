"""Content: what a message says and how its text is stored.

Owns templates (parsing, filling, language variants, transliteration), the text rules every stored
string obeys (storable_text) and the neutralising of spreadsheet formulas in exported cells
(csv_cells). May import channels.
"""
