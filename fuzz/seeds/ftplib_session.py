#!/usr/bin/env python3
"""One ftplib session exercising most of the command set, for capture_proxy.py.

    ftplib_session.py PORT USER PASS WRITABLE(0|1)
"""
import ftplib
import io
import sys

port, user, password, writable = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=20)
ftp.login(user, password)
ftp.voidcmd("NOOP")
try:
    ftp.sendcmd("FEAT")
except ftplib.Error:
    pass
ftp.sendcmd("SYST")
ftp.pwd()
ftp.sendcmd("TYPE I")
lines = []
ftp.retrlines("LIST", lines.append)
ftp.nlst()
try:
    list(ftp.mlsd())
except ftplib.Error:
    pass
for command in ["SIZE seed.txt", "MDTM seed.txt", "STAT", "HELP", "OPTS UTF8 ON", "MLST seed.txt"]:
    try:
        ftp.sendcmd(command)
    except ftplib.Error:
        pass
data = io.BytesIO()
ftp.retrbinary("RETR seed.txt", data.write)
data = io.BytesIO()
ftp.retrbinary("RETR seed.txt", data.write, rest=3)
ftp.set_pasv(False)
ftp.retrlines("LIST", lines.append)
ftp.set_pasv(True)
if writable:
    ftp.storbinary("STOR upload.bin", io.BytesIO(b"x" * 5000))
    ftp.storbinary("APPE upload.bin", io.BytesIO(b"y" * 100))
    ftp.mkd("dir one")
    ftp.cwd("dir one")
    ftp.cwd("..")
    ftp.rmd("dir one")
    ftp.rename("upload.bin", "moved.bin")
    ftp.delete("moved.bin")
for bad in ["RETR missing", "CWD /nope", "XYZZY", "PORT 1,2,3,4,5,6", "EPRT |1|127.0.0.2|25|"]:
    try:
        ftp.sendcmd(bad)
    except ftplib.Error:
        pass
ftp.quit()
