"""Reports: a run or sweep directory in, one self-contained HTML page and its Markdown out.

Read `document.py` first (`write_report`); `render.py` turns the document model into
HTML and Markdown, `figures.py` draws, `references.py` picks the published numbers.
"""
