"""Tests with real servers on loopback: moto's S3 over HTTP, OpenSSH's sshd, the receiver, the fake APSIS API."""
