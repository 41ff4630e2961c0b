//! Harness for the end-to-end tests: starts moto (with the Security Hub additions), the Backlog
//! sandbox and the real `findings-bridge` binary on 127.0.0.1 ports, and cleans them up.
