"""mtpflow.commands"""
