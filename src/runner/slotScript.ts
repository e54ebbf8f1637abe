/**
 * The program of a slot (see slotExecutor.ts), in Perl: every machine a runner runs on has one
 * (`perl-base` is essential on Debian; macOS ships it), it forks cheaply, and it reports an exact
 * end (exit code or signal). Modules of perl-base only; Time::HiRes when there.
 *
 * Arguments: the records file, the runner's pid, the grace (ms) before SIGKILL, the drain (ms),
 * and, in a Slurm job, a prefix of variables to keep (SLURM_): the job is the slot's parent then
 * (runner pid 0), and a scancel's SIGTERM is handed to the attempt while the slot stays to record its end.
 * Requests on stdin: "<bytes>\n" then fields joined by NUL: key, attempt, cwd, log file, header,
 * prefix ("" for none), wants lines ("1"/"0"), command, then NAME=value for the environment.
 * Reports on stdout, a line each: "S <pgid>" started, "O <line>" output, stdout and stderr alike
 * (when wanted), "L <error>" the log cannot be written, "Q" the shell exited, "X <code> <signal> <held>"
 * the end, or "F <error>" it could not start. Records, appended to the records file, one write a
 * line: "start", "group", "end" (see attemptRecords.ts).
 */
export const SLOT_SCRIPT = String.raw`
use strict;
use warnings;
use POSIX ();
use Fcntl qw(O_WRONLY O_APPEND O_CREAT O_NOFOLLOW);

my ($records, $runner, $grace_ms, $drain_ms, $keep) = @ARGV;
$keep //= '';
# In a Slurm job, a cancel's SIGTERM is handed to the attempt's group (Slurm may signal only the
# job's own process group, and the attempt has its own); the slot stays to record its end.
my $attempt_group = 0;
$SIG{TERM} = sub { kill('TERM', -$attempt_group) if $attempt_group } if $keep ne '';
my $now = sub { int(time() * 1000) };
eval { require Time::HiRes; $now = sub { int(Time::HiRes::time() * 1000) }; 1 };
$SIG{PIPE} = 'IGNORE';
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
  last if $runner && getppid() != $runner;
  run_attempt(split /\0/, $payload, -1);
}
exit 0;

sub run_attempt {
  my ($key, $n, $cwd, $log, $header, $prefix, $lines, $command, @env) = @_;
  record("start\t$key\t$n\t$$\t" . $now->() . "\n");
  return cannot_start($key, $n, "chdir $cwd: No such file or directory") unless -d $cwd;
  # One pipe for stdout and stderr, as they interleave; raw descriptors (POSIX), not Perl handles.
  my ($out, $in) = POSIX::pipe();
  return cannot_start($key, $n, "pipe: $!") unless defined $out;
  my $pid = fork();
  unless (defined $pid) { POSIX::close($_) for $out, $in; return cannot_start($key, $n, "fork: $!") }
  if ($pid == 0) {
    POSIX::setpgid(0, 0);
    $SIG{PIPE} = 'DEFAULT';
    $SIG{TERM} = 'DEFAULT';
    POSIX::close($out);
    POSIX::dup2($in, 1); POSIX::dup2($in, 2);
    POSIX::close($in) if $in > 2;
    open(STDIN, '<', '/dev/null');
    chdir($cwd) or do { print STDERR "could not start: chdir $cwd: $!\n"; POSIX::_exit(127) };
    # The attempt's environment: mostly the slot's own (both the runner's), so only what differs is set.
    my %want = map { split /=/, $_, 2 } @env;
    for (keys %ENV) { delete $ENV{$_} unless exists $want{$_} or ($keep ne '' and index($_, $keep) == 0) }
    while (my ($name, $value) = each %want) { $ENV{$name} = $value unless defined $ENV{$name} && $ENV{$name} eq $value }
    { exec('/bin/sh', '-c', $command) };
    print STDERR "could not start: /bin/sh: $!\n";
    POSIX::_exit(127);
  }
  POSIX::close($in);
  POSIX::setpgid($pid, $pid);  # here too: the group exists before the runner may signal it
  $attempt_group = $pid;
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

  my $partial = '';
  my $emit = sub {
    my $line = shift;
    $line =~ s/\r$//;
    $write->("$prefix$line\n") if $prefix ne '';
    report("O $line\n") if $lines;
  };
  my ($status, $gone_at, $open) = (undef, undef, 1);
  while ($open) {
    my $rin = '';
    vec($rin, $out, 1) = 1;
    my $timeout = defined $gone_at ? 0.02 : (defined $status ? 0.01 : 0.05);
    if (select(my $rout = $rin, undef, undef, $timeout) > 0) {
      my $got = POSIX::read($out, my $chunk, 65536);
      if (!defined $got || $got == 0) {  # POSIX::read says "0 but true" at the end
        $emit->($partial) if $partial ne '';
        $open = 0;
        last;
      }
      $write->($chunk) if $prefix eq '';
      if ($prefix ne '' || $lines) {
        my @parts = split /\n/, $partial . $chunk, -1;
        $partial = pop @parts;
        $emit->($_) for @parts;
        $emit->(substr($partial, 0, 4096, '')) while length($partial) > 4096;
      }
    }
    unless (defined $status) {
      if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $status = $?; report("Q\n"); $gone_at = stop_group($pid) }
    }
    # The shell and its group are gone, and the output is still held (by a process that left the
    # group): after the drain it is no longer read; the runner stops what carries the identity.
    last if defined $gone_at && $now->() - $gone_at > $drain_ms;
  }
  POSIX::close($out);
  unless (defined $status) { waitpid($pid, 0); $status = $?; report("Q\n"); stop_group($pid) }
  close $fd if $log_ok;
  my ($code, $signal) = ($status & 127) ? ('', $status & 127) : ($status >> 8, '');
  $attempt_group = 0;
  record("end\t$key\t$n\t$code\t$signal\t" . $now->() . "\n");
  report("X $code $signal $open\n");
}

# Whatever the shell left running in its group goes with it: TERM, then KILL after the grace.
sub stop_group {
  my $pgid = shift;
  # A moment first: what is leaving the group (setsid cmd &) or ending goes by itself.
  my $settle = $now->() + 20;
  select(undef, undef, undef, 0.002) while group_alive($pgid) && $now->() < $settle;
  return $now->() unless group_alive($pgid);
  kill('TERM', -$pgid);
  my $until = $now->() + $grace_ms;
  my $killed = 0;
  while (group_alive($pgid)) {
    if ($now->() > $until) {
      last if $killed;  # zombies an init does not reap hold nothing: the group is gone
      kill('KILL', -$pgid);
      ($killed, $until) = (1, $now->() + 1000);
    }
    select(undef, undef, undef, 0.01);
  }
  return $now->();
}

# A member that is not a zombie: a killed orphan stays one until init reaps it, which some inits
# (containers, VMs) do late; it holds nothing.
sub group_alive {
  my $pgid = shift;
  return 0 unless kill(0, -$pgid);
  opendir(my $proc, '/proc') or return 1;
  for my $pid (readdir $proc) {
    next unless $pid =~ /^\d+$/;
    open(my $f, '<', "/proc/$pid/stat") or next;
    my $stat = <$f>;
    close $f;
    next unless defined $stat;
    my @fields = split / /, substr($stat, rindex($stat, ')') + 2);
    return 1 if $fields[2] == $pgid && $fields[0] ne 'Z';
  }
  return 0;
}

sub cannot_start {
  my ($key, $n, $why) = @_;
  $why =~ s/\n/ /g;
  record("end\t$key\t$n\t\t\t" . $now->() . "\tcould not start: $why\n");
  report("F $why\n");
  return;
}
`;
