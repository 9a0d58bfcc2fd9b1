"""mtpflow.data"""
