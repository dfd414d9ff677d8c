"""ctopen: review a Connecticut agency spreadsheet for privacy and publish it as open data.

The core library. It never imports streamlit: the UI lives in app.py, pages/ and ui/.
"""
__version__ = "0.1.0"
