/**
 * The program of a slot (see slotExecutor.ts), in Perl: every machine a runner runs on has one
 * (`perl-base` is essential on Debian; macOS ships it), it forks cheaply, and it reports an exact
 * end (exit code or signal). Modules of perl-base only; Time::HiRes when there.
 *
 * Arguments: the records file, the runner's pid, the grace (ms) before SIGKILL, the drain (ms).
 * Requests on stdin: "<bytes>\n" then fields joined by NUL: key, attempt, cwd, log file, header,
 * prefix ("" for none), wants lines ("1"/"0"), command, then NAME=value for the environment.
 * Reports on stdout, a line each: "S <pgid>" started, "O <line>" / "E <line>" output (when
 * wanted), "L <error>" the log cannot be written, "Q" the shell exited, "X <code> <signal> <held>"
 * the end, or "F <error>" it could not start. Records, appended to the records file, one write a
 * line: "start", "group", "end" (see attemptRecords.ts).
 */
export const SLOT_SCRIPT = String.raw`
use strict;
use warnings;
use POSIX ();
use Fcntl qw(O_WRONLY O_APPEND O_CREAT O_NOFOLLOW);

my ($records, $runner, $grace_ms, $drain_ms) = @ARGV;
my $now = sub { int(time() * 1000) };
eval { require Time::HiRes; $now = sub { int(Time::HiRes::time() * 1000) }; 1 };
$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = sub {};  # only to cut a select short when the shell exits
# Without its records (a full disk) an attempt still runs; only a successor could not adopt it.
my $rec;
sysopen($rec, $records, O_WRONLY | O_APPEND | O_CREAT, 0644) or undef $rec;

sub report { syswrite(STDOUT, $_[0]) }  # the runner may be gone: EPIPE is ignored
sub record { syswrite($rec, $_[0]) if $rec }

while (1) {
  my $len = <STDIN>;
  last unless defined $len;
  chomp $len;
  my $payload = '';
  while (length($payload) < $len) {
    my $got = read(STDIN, $payload, $len - length($payload), length($payload));
    last unless $got;
  }
  last if length($payload) < $len;
  # A request read after the runner died is not started: its successor decides what runs.
  last if getppid() != $runner;
  run_attempt(split /\0/, $payload, -1);
}
exit 0;

sub run_attempt {
  my ($key, $n, $cwd, $log, $header, $prefix, $lines, $command, @env) = @_;
  record("start\t$key\t$n\t$$\t" . $now->() . "\n");
  pipe(my $out_r, my $out_w) or return cannot_start($key, $n, "pipe: $!");
  pipe(my $err_r, my $err_w) or return cannot_start($key, $n, "pipe: $!");
  pipe(my $status_r, my $status_w) or return cannot_start($key, $n, "pipe: $!");
  my $pid = fork();
  return cannot_start($key, $n, "fork: $!") unless defined $pid;
  if ($pid == 0) {
    POSIX::setpgid(0, 0);
    close $out_r; close $err_r; close $status_r;
    $SIG{PIPE} = 'DEFAULT'; $SIG{CHLD} = 'DEFAULT';
    POSIX::dup2(fileno($out_w), 1); POSIX::dup2(fileno($err_w), 2);
    open(STDIN, '<', '/dev/null');
    my $fail = sub { syswrite($status_w, $_[0]); POSIX::_exit(127) };
    chdir($cwd) or $fail->("chdir $cwd: $!");
    %ENV = ();
    for (@env) { my ($name, $value) = split /=/, $_, 2; $ENV{$name} = $value }
    { exec('/bin/sh', '-c', $command) };
    $fail->("/bin/sh: $!");
  }
  close $out_w; close $err_w; close $status_w;
  my $why = '';
  1 while sysread($status_r, $why, 4096, length $why);  # EOF at exec: the descriptor is close-on-exec
  close $status_r;
  if ($why ne '') {
    waitpid($pid, 0);
    return cannot_start($key, $n, $why);
  }
  record("group\t$key\t$n\t$pid\n");
  report("S $pid\n");

  my $fd;
  my $log_ok = sysopen($fd, $log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0644);
  report('L ' . (0 + $!) . " $!\n") unless $log_ok;
  my $write = sub {
    return unless $log_ok;
    my $data = shift;
    unless (defined syswrite($fd, $data)) { $log_ok = 0; report('L ' . (0 + $!) . " $!\n") }
  };
  $write->($header);

  my %partial = (fileno($out_r) => '', fileno($err_r) => '');
  my %tag = (fileno($out_r) => 'O', fileno($err_r) => 'E');
  my %open = (fileno($out_r) => $out_r, fileno($err_r) => $err_r);
  my $emit = sub {
    my ($f, $line) = @_;
    $line =~ s/\r$//;
    $write->("$prefix$line\n") if $prefix ne '';
    report("$tag{$f} $line\n") if $lines;
  };
  my ($status, $gone_at);
  while (%open) {
    my $rin = '';
    vec($rin, $_, 1) = 1 for keys %open;
    my $timeout = defined $gone_at ? 0.02 : (defined $status ? 0.01 : 0.05);
    my $ready = select(my $rout = $rin, undef, undef, $timeout);
    if ($ready > 0) {
      for my $f (keys %open) {
        next unless vec($rout, $f, 1);
        my $got = sysread($open{$f}, my $chunk, 65536);
        if (!$got) {
          $emit->($f, $partial{$f}) if $partial{$f} ne '';
          close $open{$f};
          delete $open{$f};
          next;
        }
        if ($prefix eq '') { $write->($chunk) }
        next unless $prefix ne '' || $lines;
        my @parts = split /\n/, $partial{$f} . $chunk, -1;
        $partial{$f} = pop @parts;
        $emit->($f, $_) for @parts;
        while (length($partial{$f}) > 4096) { $emit->($f, substr($partial{$f}, 0, 4096, '')) }
      }
    }
    unless (defined $status) {
      if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $status = $?; report("Q\n"); $gone_at = stop_group($pid) }
    }
    # The shell and its group are gone, and the output is still held (by a process that left the
    # group): after the drain it is no longer read; the runner stops what carries the identity.
    last if defined $gone_at && $now->() - $gone_at > $drain_ms;
  }
  my $held = %open ? 1 : 0;
  close $_ for values %open;
  unless (defined $status) { waitpid($pid, 0); $status = $?; report("Q\n"); stop_group($pid) }
  close $fd if $log_ok;
  my ($code, $signal) = ($status & 127) ? ('', $status & 127) : ($status >> 8, '');
  record("end\t$key\t$n\t$code\t$signal\t" . $now->() . "\n");
  report("X $code $signal $held\n");
}

# Whatever the shell left running in its group goes with it: TERM, then KILL after the grace.
sub stop_group {
  my $pgid = shift;
  # A moment first: what is leaving the group (setsid cmd &) or ending goes by itself.
  my $settle = $now->() + 20;
  select(undef, undef, undef, 0.002) while kill(0, -$pgid) && $now->() < $settle;
  return $now->() unless kill(0, -$pgid);
  kill('TERM', -$pgid);
  my $until = $now->() + $grace_ms;
  my $killed = 0;
  while (kill(0, -$pgid)) {
    if ($now->() > $until) {
      last if $killed;  # zombies an init does not reap hold nothing: the group is gone
      kill('KILL', -$pgid);
      ($killed, $until) = (1, $now->() + 1000);
    }
    select(undef, undef, undef, 0.01);
  }
  return $now->();
}

sub cannot_start {
  my ($key, $n, $why) = @_;
  $why =~ s/\n/ /g;
  record("end\t$key\t$n\t\t\t" . $now->() . "\tcould not start: $why\n");
  report("F $why\n");
  return;
}
`;
