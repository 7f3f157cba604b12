import re,sys,subprocess
def load(f):
    out=subprocess.run(['callgrind_annotate','--threshold=100','--show-percs=no',f],capture_output=True,text=True).stdout
    d={}
    for l in out.splitlines():
        m=re.match(r'\s*([\d,]+)\s+(\S+:\S+)',l)
        if m:
            k=m.group(2).split(':',1)[1].split(' ')[0]
            d[k]=d.get(k,0)+int(m.group(1).replace(',',''))
    return d
fa,ta,fb,tb=sys.argv[1],int(sys.argv[2]),sys.argv[3],int(sys.argv[4])
a=load(fa);b=load(fb)
for k in a: a[k]/=ta
for k in b: b[k]/=tb
keys=set(a)|set(b)
n=int(sys.argv[5]) if len(sys.argv)>5 else 60
print("by |delta|:")
for k in sorted(keys,key=lambda k:-abs(b.get(k,0)-a.get(k,0)))[:25]:
    print(f"  {k:50s} {a.get(k,0):8.0f} {b.get(k,0):8.0f} {b.get(k,0)-a.get(k,0):+6.0f}")
print("top self (base):")
for k in sorted(keys,key=lambda k:-a.get(k,0))[:n]:
    print(f"  {k:50s} {a.get(k,0):8.0f} {b.get(k,0):8.0f} {b.get(k,0)-a.get(k,0):+6.0f}")
