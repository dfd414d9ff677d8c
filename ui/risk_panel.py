"""Placeholder: replaced by the issue that builds it."""
import streamlit as st


def render(*args, **kwargs) -> None:
    st.caption("Not available yet.")
