"""mtpflow.train"""
